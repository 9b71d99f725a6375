"""TRL's server mode on CPU: ``trl vllm-serve`` (which runs ``vllm serve`` with TRL's flags) on 127.0.0.1, then
TRL's ``VLLMClient`` generating through it, its weight-sync handshake, and ``GRPOTrainer(vllm_mode="server")``.

Usage: python server_mode.py MODEL_DIR OUT_JSON PORT
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def serve(command, log_path, env=None):
    with open(log_path, "w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def main(model_dir: str, out: str, port: str) -> None:
    import requests

    result = {}
    folder = os.path.dirname(out)
    trl = shutil.which("trl") or os.path.join(os.path.dirname(sys.executable), "trl")
    command = [
        trl,
        "vllm-serve",
        "--model",
        model_dir,
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--max_model_len",
        "512",
        "--enforce_eager",
        "true",
    ]
    server = serve(command, os.path.join(folder, "trl-vllm-serve.log"))
    result["trl_vllm_serve_exit"] = server.wait(timeout=240)  # vllm-cpu 0.32.0: exits at once (see the log)
    with open(os.path.join(folder, "trl-vllm-serve.log")) as log:
        result["trl_vllm_serve_log_tail"] = log.read()[-600:]
    # The same server as TRL's build_command makes it, through vLLM's OpenAI server module instead of its CLI
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    trl_command = build_command(
        ScriptArguments(model=model_dir, host="127.0.0.1", port=int(port), max_model_len=512, enforce_eager=True)
    )
    fallback = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir]
    fallback += trl_command[trl_command.index(model_dir) + 1 :]
    result["fallback_command"] = " ".join(fallback[1:])
    log_path = os.path.join(folder, "server.log")
    server = serve(fallback, log_path, env={**os.environ, "VLLM_SERVER_DEV_MODE": "1"})
    try:
        start = time.time()
        while time.time() - start < 240:
            if server.poll() is not None:
                break
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(2)
        result["server_up"] = server.poll() is None
        result["startup_s"] = time.time() - start
        if result["server_up"]:
            from trl.generation.vllm_client import VLLMClient

            client = VLLMClient(base_url=f"http://127.0.0.1:{port}", connection_timeout=30)
            prompt = [1, 504, 3458, 314, 4649, 314]  # token ids
            output = client.generate(prompts=[prompt], n=2, max_tokens=8, temperature=1.0)
            result["completions"] = output["completion_ids"]
            result["logprobs_per_token"] = [len(x) for x in output["logprobs"]]
            try:
                client.init_communicator(device="cpu")
                result["init_communicator"] = "ok"
            except Exception as error:  # noqa: BLE001 - the reason is what is recorded
                result["init_communicator"] = f"{type(error).__name__}: {error}"
            try:
                from datasets import Dataset

                from infopo.configs import InfopoGRPOConfig
                from infopo.trainers import InfopoGRPOTrainer

                args = InfopoGRPOConfig(
                    output_dir=os.path.join(os.path.dirname(out), "grpo-server"),
                    per_device_train_batch_size=2,
                    num_generations=2,
                    max_completion_length=8,
                    max_steps=1,
                    report_to="none",
                    save_strategy="no",
                    use_cpu=True,
                    bf16=False,
                    use_vllm=True,
                    vllm_mode="server",
                    vllm_server_base_url=f"http://127.0.0.1:{port}",
                    vllm_server_timeout=30,
                    disable_tqdm=True,
                )
                data = Dataset.from_list([{"prompt": "Hello"}] * 4)
                InfopoGRPOTrainer(
                    model=model_dir,
                    reward_funcs=[lambda completions, **k: [0.0] * len(completions)],
                    args=args,
                    train_dataset=data,
                )
                result["trainer"] = "ok"
            except Exception as error:  # noqa: BLE001
                result["trainer"] = f"{type(error).__name__}: {error}"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    with open(log_path) as log:
        result["server_log_tail"] = log.read()[-3000:]
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
