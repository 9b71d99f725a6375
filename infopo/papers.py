"""The papers of infopo's methods, as TRL's trainers declare theirs (``_paper``): title, arXiv id and BibTeX.

Model cards link and cite every method a run used (the trainer's, and KappaTune and GAIN-RL when they are on).
"""

DID = {
    "title": "Differential Information Distribution: A Bayesian Perspective on Direct Preference Optimization",
    "id": "2505.23761",
    "citation": """@misc{won2025differential,
    title         = {{Differential Information Distribution: A Bayesian Perspective on Direct Preference Optimization}},
    author        = {Yunjae Won and Hyunji Lee and Hyeonbin Hwang and Minjoon Seo},
    year          = 2025,
    eprint        = {2505.23761},
    archivePrefix = {arXiv},
}""",
}

IGPO = {
    "title": "Information Gain-based Policy Optimization: A Simple and Effective Approach for Multi-Turn Search Agents",
    "id": "2510.14967",
    "citation": """@misc{wang2025igpo,
    title         = {{Information Gain-based Policy Optimization: A Simple and Effective Approach for Multi-Turn Search Agents}},
    author        = {Guoqing Wang and Sunhao Dai and Guangze Ye and Zeyu Gan and Wei Yao and Yong Deng and Xiaofeng Wu and Zhenzhe Ying},
    year          = 2025,
    eprint        = {2510.14967},
    archivePrefix = {arXiv},
}""",
}

GAIN_RL = {
    "title": "Angles Don't Lie: Unlocking Training-Efficient RL Through the Model's Own Signals",
    "id": "2506.02281",
    "citation": """@misc{wang2025angles,
    title         = {{Angles Don't Lie: Unlocking Training-Efficient RL Through the Model's Own Signals}},
    author        = {Qinsi Wang and Jinghan Ke and Hancheng Ye and Yueqian Lin and Yuzhe Fu and Jianyi Zhang and Kurt Keutzer and Chenfeng Xu and Yiran Chen},
    year          = 2025,
    eprint        = {2506.02281},
    archivePrefix = {arXiv},
}""",
}

KAPPATUNE = {
    "title": "The Condition Number as a Scale-Invariant Proxy for Information Encoding in Neural Units",
    "id": "2506.16289",
    "citation": """@misc{ludwig2025condition,
    title         = {{The Condition Number as a Scale-Invariant Proxy for Information Encoding in Neural Units}},
    author        = {Oswaldo Ludwig},
    year          = 2025,
    eprint        = {2506.16289},
    archivePrefix = {arXiv},
}""",
}
