"""Model families, their datasets and their metrics. See trainables/family.py for the contract."""
