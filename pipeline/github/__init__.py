"""The GitHub side of the gate: what the composite action (``action.yml``) runs, step by step.

``python -m pipeline.github <step>`` with the action's inputs in ``INPUT_*`` variables
(never interpolated into a shell script): ``setup`` installs what the enabled checks
need, ``run`` runs the gate, ``report`` writes the step summary, the outputs and the
annotations, ``comment`` keeps one PR comment up to date, ``lint`` runs the workflow
linters. Each step's logic is here, in Python, so a test can run it outside GitHub.
"""
