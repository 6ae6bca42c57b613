"""Building what students receive: stubs derived from the reference, and the leak check.

``stubs`` turns the reference ``mytorch/`` into the student files; ``leaks``
proves that nothing a student receives holds a solution or a hidden test;
``nbgrader_plugin`` runs both inside ``nbgrader generate_assignment``.
"""
