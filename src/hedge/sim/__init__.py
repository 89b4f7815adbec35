"""Machines to connect to: a milling machine with the AI4I 2020 variables and failure modes
(`milling`)."""
