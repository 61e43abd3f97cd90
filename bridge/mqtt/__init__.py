"""MQTT: the broker connection, topic names, Home Assistant discovery and the publisher."""
