"""``spark-submit [spark options] $(imgpipe entrypoint) CONFIG [--set KEY=VALUE ...] [--resume]``

Runs ``imgpipe run CONFIG ...``: the same checks before Spark starts, the same output and the same exit codes,
except that the Spark session comes from spark-submit (its master and settings win over the YAML's).
"""

from imgpipe.cli import submit_main

if __name__ == "__main__":
    submit_main()
