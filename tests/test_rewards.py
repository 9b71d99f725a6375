from infopo.rewards import REWARD_FUNCTIONS, answer_match, completion_text


def test_answer_match_scores_last_number():
    completions = [" the answer is 17.", " 3 then 17", " 17 then 3", " no number", ""]
    assert answer_match(completions, answer=["17"] * 5) == [1.0, 1.0, 0.1, 0.0, 0.0]


def test_answer_match_reads_conversational_completions_and_negative_numbers():
    completions = [[{"role": "assistant", "content": "it is -4"}], [{"role": "assistant", "content": "4"}]]
    assert answer_match(completions, answer=["-4", "-4"]) == [1.0, 0.1]
    assert completion_text([]) == ""


def test_registry_declares_columns():
    assert REWARD_FUNCTIONS["answer_match"].required_columns == ("answer",)
