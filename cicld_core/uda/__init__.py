"""Unsupervised domain adaptation: the teacher-student adversarial CICLD trainer."""
