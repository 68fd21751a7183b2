"""Self-test cases of the IVC Reconstruction module (see phantom_cases.py)."""
