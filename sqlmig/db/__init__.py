"""The only package that speaks SQL: connections, history, locks, execution and loading."""
