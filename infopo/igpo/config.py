"""``IGPOConfig``: GRPO with multi-turn search rollouts and turn-level information-gain advantages."""

from __future__ import annotations

from dataclasses import dataclass, field

from infopo.configs import InfopoGRPOConfig
from infopo.igpo.environment import DOCUMENT_TEMPLATE, OBSERVATION_TEMPLATE, check_templates


@dataclass
class IGPOConfig(InfopoGRPOConfig):
    """``InfopoGRPOConfig`` plus IGPO's rollout, reward and advantage settings (arXiv 2510.14967)."""

    max_turns: int = field(
        default=4,
        metadata={
            "help": "Turn limit of a tag-protocol rollout; hitting it without an answer gets the format "
            "penalty as its outcome (its measured gains are kept)."
        },
    )
    max_turn_tokens: int = field(
        default=32,
        metadata={
            "help": "New tokens the policy may write in one turn of the tag protocol (the whole "
            "rollout is capped by max_completion_length)."
        },
    )
    credit: str = field(
        default="info_gain",
        metadata={
            "help": "How rollouts earn advantages: 'info_gain' (IGPO's turn advantages from information gains and "
            "the outcome, the authors'); 'counterfactual_gain' (IG-Search, arXiv 2604.15148: a search turn's gain "
            "is its probe value against the value after random corpus documents in place of its observation, one "
            "extra probe row per search turn; IGPO's tag loop over a local corpus); or 'outcome' (TRL's "
            "sequence-level GRPO advantages from the outcome alone, on the same rollouts and outcome reward, without "
            "the probe: the outcome-only baseline)."
        },
    )
    rollout_loop: str = field(
        default="auto",
        metadata={
            "help": "How the tag loop meets the engine: 'per_turn' (every live rollout's turn t in one generation "
            "call, then one batched search, then turn t + 1); 'continuous' (a colocated vLLM engine driven request by "
            "request: a rollout's next turn starts as soon as its own observation is ready, searches run beside "
            "generation; use_vllm, vllm_mode 'colocate', tensor parallel size 1, no sleep mode); 'auto' (continuous "
            "where it can run, else per_turn)."
        },
    )
    gamma: float = field(default=1.0, metadata={"help": "Turn discount: A_t = r~_t + gamma * A_{t+1}."})
    info_gain_kind: str = field(
        default="prob", metadata={"help": "Probe value: 'prob' (geometric-mean answer probability) or 'log_prob'."}
    )
    norm_mode: str = field(
        default="joint",
        metadata={
            "help": "'joint': z-score all turn rewards of a group together; 'separate': gains and outcomes apart."
        },
    )
    outcome_metric: str = field(
        default="f1",
        metadata={
            "help": "Final-turn reward: 'f1' (the authors'), 'exact_match' (lower case, punctuation removed) or "
            "'squad_em' (SQuAD's normalisation, articles removed too: Search-R1's reward)."
        },
    )
    f1_words: str = field(
        default="set",
        metadata={
            "help": "F1 over the 'set' of words (the authors' code: repeats do not count) or the "
            "'multiset' (SQuAD's bag of words, infopo's earlier rule)."
        },
    )
    answer_extraction: str = field(
        default="authors",
        metadata={
            "help": "'authors': the first <answer> of the whole response, and the format "
            "penalty when any think/answer/tool_call/code tag is unbalanced (the "
            "authors' code); 'last_in_final_turn': the last complete answer of the "
            "final turn (infopo's earlier rule)."
        },
    )
    format_penalty: float = field(
        default=-2.0,
        metadata={
            "help": "Outcome of a rollout without a final answer (no answer tags in its last turn, "
            "max_turns or max_completion_length hit), as in the authors' code."
        },
    )
    gain_weight: float = field(default=1.0, metadata={"help": "Weight of the information-gain rewards."})
    outcome_weight: float = field(default=1.0, metadata={"help": "Weight of the outcome reward."})
    answer_column: str = field(
        default="answer",
        metadata={
            "help": "Data set column with the ground-truth answer: a string, or a list of "
            "acceptable answers (the probe scores the first, the outcome the best)."
        },
    )
    answer_forcing_prefix: str = field(
        default="<answer>",
        metadata={
            "help": "Text appended to the history before the teacher-forced answer in the "
            "probe; the answer's tokens are found by character offsets in one "
            "tokenization of prefix + answer."
        },
    )
    corpus: str = field(
        default="synthetic:lookup_corpus",
        metadata={
            "help": "Search corpus of the default environment: a folder from `infopo search index` (memory-mapped, "
            "shared by every process of a node), or a JSON-lines or parquet file, a data set folder or "
            "name, a synthetic:<task> data set (built in memory by every process; Python API: also a "
            "list of documents). Ignored with retriever_url, environment_factory, tools or rollout_func."
        },
    )
    corpus_text_field: str = field(
        default="text",
        metadata={
            "help": "Field of the corpus that holds a document's text "
            "(with retriever_url: of the server's documents; "
            "'text' reads Search-R1's 'contents')."
        },
    )
    retriever_url: str | None = field(
        default=None,
        metadata={
            "help": "A retrieval server on Search-R1's protocol (POST {queries, topk, "
            "return_scores}), e.g. http://127.0.0.1:8000/retrieve from `infopo search "
            "serve`; overrides corpus. Checked once at start-up; a failed call during "
            "training is an error observation (igpo/tool_error_frac)."
        },
    )
    search_top_k: int = field(default=3, metadata={"help": "Documents returned per search."})
    search_time_limit_s: float = field(
        default=5.0,
        metadata={
            "help": "Time limit of one search call (one turn's "
            "batch of searches; with retriever_url also the "
            "HTTP timeout)."
        },
    )
    greedy_eval_questions: int = field(
        default=0,
        metadata={
            "help": "Before and after training, answer this many questions of the evaluation split "
            "(eval_dataset; the command line loads the data set's test split) with greedy "
            "decoding, and log exact-match success and F1 (igpo/greedy_success_start, "
            "igpo/greedy_success_end, ...). 0: off."
        },
    )
    greedy_min_start_success: float = field(
        default=0.0,
        metadata={
            "help": "Stop before the first step (exit status 2, one line) when the greedy success at the start "
            "(greedy_eval_questions) is below this: RL from a policy that almost never answers right has no outcome "
            "signal, and its run would print 0 -> 0. `make demo` uses 0.1 (docs/index.md says why). 0: off."
        },
    )
    max_observation_chars: int = field(
        default=4000, metadata={"help": "Observations longer than this are cut (and counted: igpo/truncated_frac)."}
    )
    document_template: str = field(
        default=DOCUMENT_TEMPLATE,
        metadata={
            "help": "A retrieved document in an observation: {document} (the whole text), {title} (its first line), "
            "{body} (the lines after), {index} (1 for the best). Search-R1's: 'Doc {index}(Title: {title}) {body}\\n'."
        },
    )
    observation_template: str = field(
        default=OBSERVATION_TEMPLATE,
        metadata={
            "help": "A search's observation: {documents} (the rendered documents, joined), {open} and {close} (the "
            "information tags). Search-R1's: '\\n\\n{open}{documents}{close}\\n\\n' with strip_documents."
        },
    )
    strip_documents: bool = field(
        default=False,
        metadata={"help": "Strip the joined documents of surrounding whitespace (Search-R1 does)."},
    )
    invalid_action_retry: bool = field(
        default=False,
        metadata={
            "help": "A turn with neither a search nor an answer gets Search-R1's 'My previous action is invalid ... "
            "Let me try again.' and the rollout goes on (counted in igpo/format_error_frac only if no answer "
            "follows); off: the rollout ends there, unanswered."
        },
    )
    exclude_tool_failures: bool = field(
        default=True,
        metadata={
            "help": "Leave a rollout whose search failed (a server down, a timeout: the infrastructure's fault, not "
            "the policy's) out of the loss and out of its group's statistics, as a non-finite probe gain is; "
            "igpo/tool_error_frac still counts it. IGPO's tag loop only."
        },
    )
    max_observation_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Observations longer than this many tokens are cut to it, their closing tag kept (and counted: "
            "igpo/truncated_frac), as Search-R1's max_obs_length; None: characters only (max_observation_chars)."
        },
    )
    probe_token_budget: int = field(
        default=16384,
        metadata={
            "help": "Padded tokens (rollouts x widest packed rollout, longest first) per packed "
            "probe forward; a rollout longer than this is probed alone. Bounds the "
            "probe's memory: its attention mask has up to budget x width entries."
        },
    )
    probe_context: str = field(
        default="auto",
        metadata={
            "help": "How the probe's answer copy is built. 'authors' (the authors' code): "
            "'<think>' after the boundary (unless the prompt opened one), then forcing "
            "prefix + answer + '\\n</answer><|im_end|>' in one tokenization, the "
            "answer's tokens by character offsets; 'plain': forcing prefix + answer. "
            "'auto': 'authors' when the forcing prefix closes a think it does not "
            "open (the authors' prefix), else 'plain'."
        },
    )

    probe_backend: str = field(
        default="packed",
        metadata={
            "help": "Where the probe runs: 'packed' (one masked forward of the training model per token budget of "
            "rollouts) or 'vllm' (prompt log-probs of prefix + answer copy from the colocated vLLM engine that "
            "generated the rollouts, whose prefix cache holds the prefixes; needs use_vllm and vllm_mode "
            "'colocate'; values to the precision of vLLM's dtype)."
        },
    )

    def continuous_turns_possible(self) -> bool:
        """Whether the continuous loop can drive the engine: a colocated vLLM engine that this process alone
        feeds (tensor parallelism gathers every rank's prompts into one call) and that never sleeps between calls
        (no structured outputs either: TRL builds those per call)."""
        return (
            self.use_vllm
            and self.vllm_mode == "colocate"
            and self.vllm_tensor_parallel_size == 1
            and not self.vllm_enable_sleep_mode
            and self.vllm_structured_outputs_regex is None
        )

    def check_infopo_fields(self) -> None:
        super().check_infopo_fields()
        choices = {
            "info_gain_kind": ("prob", "log_prob"),
            "norm_mode": ("joint", "separate"),
            "outcome_metric": ("f1", "exact_match", "squad_em"),
            "f1_words": ("set", "multiset"),
            "answer_extraction": ("authors", "last_in_final_turn"),
            "probe_context": ("auto", "authors", "plain"),
            "probe_backend": ("packed", "vllm"),
            "credit": ("info_gain", "counterfactual_gain", "outcome"),
            "rollout_loop": ("auto", "per_turn", "continuous"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.probe_backend == "vllm" and not (self.use_vllm and self.vllm_mode == "colocate"):
            raise ValueError(
                "probe_backend 'vllm' scores on the colocated engine: set use_vllm and vllm_mode 'colocate'"
            )
        if self.rollout_loop == "continuous" and not self.continuous_turns_possible():
            raise ValueError(
                "rollout_loop 'continuous' drives a colocated vLLM engine of its own: set use_vllm, vllm_mode "
                "'colocate', vllm_tensor_parallel_size 1 and vllm_enable_sleep_mode false (or rollout_loop 'auto')"
            )
        if self.max_turns < 1 or self.max_turn_tokens < 1:
            raise ValueError("max_turns and max_turn_tokens must be at least 1")
        check_templates(self.document_template, self.observation_template)
        if self.max_observation_tokens is not None and self.max_observation_tokens < 8:
            raise ValueError(f"max_observation_tokens must be at least 8, got {self.max_observation_tokens}")
        if self.probe_token_budget < 1:
            raise ValueError(f"probe_token_budget must be at least 1, got {self.probe_token_budget}")
        if self.retriever_url is not None and not str(self.retriever_url).startswith(("http://", "https://")):
            raise ValueError(f"retriever_url must start with http:// or https://, got {self.retriever_url!r}")
        if self.greedy_eval_questions < 0:
            raise ValueError(f"greedy_eval_questions must be >= 0, got {self.greedy_eval_questions}")
        if not 0.0 <= self.greedy_min_start_success <= 1.0:
            raise ValueError(f"greedy_min_start_success must be in [0, 1], got {self.greedy_min_start_success}")
        if self.greedy_min_start_success > 0 and self.greedy_eval_questions == 0:
            raise ValueError(
                "greedy_min_start_success needs greedy_eval_questions > 0 (the start's evaluation), or set it to 0"
            )
