"""Telegraf-format traffic simulator with incident scenarios (`lookout simulate`).

Pure core: :mod:`.scenarios` (timelines), :mod:`.generator` (records) and its parts
(:mod:`.fleet`, :mod:`.machines`, :mod:`.traffic`, :mod:`.wire`); I/O edge: :mod:`.runner`;
command line: :mod:`.cli`.
"""
