"""d1c.fuzz: ``d1c fuzz``, property-based fuzzing of the whole lowering.

- :mod:`~d1c.fuzz.runner`: the hypothesis run, its budget and its summary;
- :mod:`~d1c.fuzz.checks`: the examples drawn and the properties checked on each;
- :mod:`~d1c.fuzz.reduce`: IR-level reduction of a failing case after hypothesis shrinks it;
- :mod:`~d1c.fuzz.repro`: reproducer folders and their replay commands.

The strategies themselves are public in :mod:`d1c.testing.strategies`.
"""
