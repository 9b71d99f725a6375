"""The papers of infopo's methods, as TRL's trainers declare theirs (``_paper``): title, arXiv id and BibTeX.

Model cards link and cite every method a run used (the trainer's, and KappaTune and GAIN-RL when they are on).
"""


def arxiv_paper(key: str, title: str, authors: list[str], arxiv_id: str, year: int = 2025) -> dict:
    """A paper as TRL's ``_paper`` holds one: title, arXiv id and a BibTeX ``@misc`` entry in TRL's layout."""
    citation = f"""@misc{{{key},
    title         = {{{{{title}}}}},
    author        = {{{" and ".join(authors)}}},
    year          = {year},
    eprint        = {{{arxiv_id}}},
    archivePrefix = {{arXiv}},
}}"""
    return {"title": title, "id": arxiv_id, "citation": citation}


DID = arxiv_paper(
    "won2025differential",
    "Differential Information Distribution: A Bayesian Perspective on Direct Preference Optimization",
    ["Yunjae Won", "Hyunji Lee", "Hyeonbin Hwang", "Minjoon Seo"],
    "2505.23761",
)

IGPO = arxiv_paper(
    "wang2025igpo",
    "Information Gain-based Policy Optimization: A Simple and Effective Approach for Multi-Turn Search Agents",
    ["Guoqing Wang", "Sunhao Dai", "Guangze Ye", "Zeyu Gan", "Wei Yao", "Yong Deng", "Xiaofeng Wu", "Zhenzhe Ying"],
    "2510.14967",
)

GAIN_RL = arxiv_paper(
    "wang2025angles",
    "Angles Don't Lie: Unlocking Training-Efficient RL Through the Model's Own Signals",
    [
        "Qinsi Wang",
        "Jinghan Ke",
        "Hancheng Ye",
        "Yueqian Lin",
        "Yuzhe Fu",
        "Jianyi Zhang",
        "Kurt Keutzer",
        "Chenfeng Xu",
        "Yiran Chen",
    ],
    "2506.02281",
)

KAPPATUNE = arxiv_paper(
    "ludwig2025condition",
    "The Condition Number as a Scale-Invariant Proxy for Information Encoding in Neural Units",
    ["Oswaldo Ludwig"],
    "2506.16289",
)

DAPO = arxiv_paper(
    "yu2025dapo",
    "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
    ["Qiying Yu", "Zheng Zhang", "Ruofei Zhu", "Yufeng Yuan", "Xiaochen Zuo", "Yu Yue", "others"],
    "2503.14476",
)
