"""The Faust app: topics, tables, agents and web views around the goldrush engine."""
