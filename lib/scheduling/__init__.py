"""Programados: sends the workers start by themselves.

`recurrence` turns a schedule's wall-clock rule into UTC moments and its fecha de corte rule
into a date; `schedules` keeps the schedules (create, edit, pause, resume, delete, audited);
`due` runs the occurrences that are due, each exactly once across workers and machines.
"""
