"""Loudspeaker side: the MQTT contract, the server gateway, the reference loudspeaker."""
