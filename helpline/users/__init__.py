"""Volunteers, supervisors, managers and admins: who they are and whether they can take cases."""
