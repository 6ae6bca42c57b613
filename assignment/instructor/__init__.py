"""Instructor-only: grading, the release build, the class commands, the report, the demo, the lab, the doctor, the LMS export, the command line."""
