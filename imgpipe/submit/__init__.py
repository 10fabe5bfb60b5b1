"""spark-submit's entry point, ``imgpipe_submit.py``: the path ``imgpipe entrypoint`` prints.

It has this folder to itself because spark-submit runs it as a script, which puts its folder first on
``sys.path``: a sibling module there would shadow any top-level module of the same name.
"""
