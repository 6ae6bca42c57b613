"""The shared contract: what a student's kernel and the grader's sandbox both run (the questions, the training loop, the digits, the wording of student errors).

It imports nothing of ``student`` or ``instructor`` (tests/test_contract.py holds it to that).
"""
