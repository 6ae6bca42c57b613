"""The mytorch course kit: data, student checks, visualizers and the nbgrader extension.

Nothing in this package holds a solution of the assignment or a hidden test:
it is installed in the students' environment.
"""

__version__ = "0.1.0"
