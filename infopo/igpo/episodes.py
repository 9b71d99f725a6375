"""How IGPO's trainer prepares its episodes and rows: the default search environment of a config, a factory that
hands out an already-made instance first, a ``reset`` observation appended to a prompt, and a row's answers."""

from __future__ import annotations

from infopo.errors import InfopoConfigError
from infopo.igpo.environment import SearchEnvironment


def search_environment_factory(args):
    """The ``environment_factory`` of an ``IGPOConfig`` without one: search through ``retriever_url`` (a server on
    Search-R1's protocol, checked once here) when set, else BM25 over ``corpus`` (an index folder from ``infopo search
    index``, memory-mapped; a corpus file, data set or ``synthetic:<task>``, built in memory; or a list of
    documents). The retriever is opened once and shared by every episode."""
    corpus = args.retriever_url or args.corpus
    return SearchEnvironment.factory(
        corpus,
        text_column=args.corpus_text_field,
        top_k=args.search_top_k,
        time_limit_s=args.search_time_limit_s,
        max_observation_chars=args.max_observation_chars,
        document_template=args.document_template,
        observation_template=args.observation_template,
        strip_documents=args.strip_documents,
        invalid_action_retry=args.invalid_action_retry,
    )


def first_then(instance, factory):
    """A factory whose first call returns ``instance`` (already made, to inspect it) and later calls ``factory()``."""
    made = [instance]

    def factory_once_more():
        return made.pop() if made else factory()

    return factory_once_more


def with_reset_observation(prompt, observation, environment: str):
    """``prompt`` with the string a ``TagEnvironment.reset`` returned appended to its last message, as TRL's tool loop
    does with its environments' ``reset``; unchanged for None."""
    if observation is None:
        return prompt
    if not isinstance(observation, str):
        raise InfopoConfigError(
            f"{environment}.reset returned {type(observation).__name__}; return a string (added "
            "to the last message of the prompt) or None"
        )
    if isinstance(prompt, str):
        return prompt + observation
    return [*prompt[:-1], {**prompt[-1], "content": prompt[-1]["content"] + observation}]


def answer_aliases(answer) -> list[str]:
    """The acceptable answers of a row: a string, or a list of strings (the probe scores the first, as the authors'
    code does; the outcome takes the best)."""
    return [answer] if isinstance(answer, str) else [str(alias) for alias in answer]
