"""Simulators: smart meters, fault indicators, Modbus field devices, crews and storm days.

They reach the stack only as real devices and crews do (MQTT with each device's own
login, Modbus TCP served for the gateway, HTTP to the mobile API) and never touch the
database. Everything they send is deterministic from a seed.
"""
