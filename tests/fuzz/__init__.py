"""Fuzzing of every deserializer that takes bytes from another party.

`mutate` turns valid encodings into hostile ones (bit flips, truncations, splices, header and
JSON field mutations with type confusion, huge numbers, deep nesting, NaN and Infinity tokens,
record and nested-container surgery with valid checksums), `targets` names each parser with
its seeds and the `HedgeError` subclasses it may raise, and `test_deserializers` runs them
under hypothesis within CI's time budget. `benchmarks/fuzz_deserializers.py` runs the same
targets for longer and records the figures.
"""
