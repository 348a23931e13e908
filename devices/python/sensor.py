#!/usr/bin/env python3
"""A temperature sensor with a command handler, on paho-mqtt.

Publishes JSON telemetry to devices/<id>/telemetry, keeps devices/<id>/status retained
("online", with "offline" as its will), and obeys commands on devices/<id>/cmd:
  {"interval": 2.5}  -> publish every 2.5 s from now on (acknowledged on devices/<id>/ack)
  "ping"             -> answers "pong" on devices/<id>/ack

Works with paho-mqtt 1.6 (Debian 12's python3-paho-mqtt) and 2.x.
  python3 devices/python/sensor.py --host 127.0.0.1 --port 1883 --id py-sensor-1
"""
import argparse
import json
import random
import sys
import threading
import time

import paho.mqtt.client as mqtt


def make_client(client_id):
    # paho 2.x wants the callback API version first; 1.x does not know the argument.
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    return mqtt.Client(client_id=client_id, clean_session=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--id", default="py-sensor-1")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between readings")
    parser.add_argument("--count", type=int, default=0, help="stop after this many readings (0 = never)")
    parser.add_argument("--qos", type=int, default=1, choices=[0, 1, 2])
    args = parser.parse_args()

    base = "devices/%s" % args.id
    state = {"interval": args.interval, "sent": 0, "temperature": 20.0 + random.random() * 3}
    wake = threading.Event()
    connected = threading.Event()

    client = make_client(args.id)
    client.will_set(base + "/status", "offline", qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=60)  # back-off when the broker goes away

    def on_connect(c, userdata, flags, *rest):
        c.publish(base + "/status", "online", qos=1, retain=True)
        c.subscribe(base + "/cmd", qos=1)
        connected.set()

    def on_message(c, userdata, message):
        text = message.payload.decode("utf-8", "replace")
        if text == "ping":
            c.publish(base + "/ack", "pong", qos=1)
            return
        try:
            command = json.loads(text)
        except ValueError:
            return  # not a command we know: ignored, as a real device would
        if isinstance(command, dict) and isinstance(command.get("interval"), (int, float)) and command["interval"] > 0:
            state["interval"] = float(command["interval"])
            c.publish(base + "/ack", json.dumps({"interval": state["interval"]}), qos=1)
            wake.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        print("could not connect to %s:%d" % (args.host, args.port), file=sys.stderr)
        return 1

    try:
        while args.count == 0 or state["sent"] < args.count:
            state["temperature"] += (random.random() - 0.5) * 0.4
            reading = {"id": args.id, "ts": time.time(), "temperature": round(state["temperature"], 2)}
            info = client.publish(base + "/telemetry", json.dumps(reading), qos=args.qos)
            info.wait_for_publish()
            state["sent"] += 1
            wake.wait(state["interval"])
            wake.clear()
    except KeyboardInterrupt:
        pass
    # A clean goodbye: "offline" ourselves, then DISCONNECT (so the will is not needed).
    client.publish(base + "/status", "offline", qos=1, retain=True).wait_for_publish()
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
