"""Governing an organisation's AI use: inventory, policy rules, exceptions, budgets in money.

Where each decision lives:

* ``inventory.py``: models and use cases (applications), their lifecycle and owners.
* ``rule_language.py``: the condition language of policy rules, compiled once.
* ``policy.py``: policy files, rules and their evaluation over a message's columns.
* ``resolve.py``: a message's distinct subjects -> the inventory and novelty fields rules read.
* ``exceptions.py``: which exceptions suppress which violations, and until when.
* ``prices.py``: the price catalog the workers judge money with.
* ``spend.py``: a message's cost per budget scope, and spend spikes in money.
* ``budgets.py``: budgets per team, use case or model, and their 80/100 % alerts.
* ``govern.py``: what one usage message does under governance (called by ``metering``).
* ``check.py``: policy at validate/check time (called by the HTTP check).
* ``view.py`` and ``feed.py``: the governance data a worker holds, read from compacted topics.
* ``agents.py``: the Faust parts (feed task, budget agent), wired by one call from ``app.py``.
* ``admin.py``, ``cli.py``, ``yaml_io.py``: publishing it (``meterstream inventory|policy|exception|alert``).
"""
