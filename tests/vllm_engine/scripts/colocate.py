"""Training arguments the colocated-vLLM scripts share: one CPU process, vLLM in colocate mode, nothing saved."""

COLOCATED_CPU = dict(
    logging_steps=1,
    report_to="none",
    save_strategy="no",
    use_cpu=True,
    bf16=False,
    use_vllm=True,
    vllm_mode="colocate",
    disable_tqdm=True,
)
