# A sensor for ESP32 / Raspberry Pi Pico W on MicroPython with umqtt.simple.
# Cannot run here (no board): copy to the device with `mpremote cp main.py :` after setting
# WIFI_SSID, WIFI_PASSWORD and BROKER below. No wiring needed: it reports the chip's internal
# temperature sensor (Pico W) or a random walk (ESP32, which has none exposed).
import json
import time

import machine
import network
from umqtt.simple import MQTTClient

WIFI_SSID = "your-wifi"
WIFI_PASSWORD = "your-password"
BROKER = "192.168.1.10"  # the gateway running Midge (started with auth, or --allow-anonymous)
DEVICE_ID = "pico-" + machine.unique_id().hex()
BASE = "devices/" + DEVICE_ID
interval = 5  # seconds; the broker can change it with {"interval": n} on devices/<id>/cmd


def read_temperature():
    try:
        sensor = machine.ADC(4)  # Pico W internal sensor
        volts = sensor.read_u16() * 3.3 / 65535
        return 27 - (volts - 0.706) / 0.001721
    except Exception:
        return 20 + (time.ticks_ms() % 1000) / 1000


def on_command(topic, message):
    global interval
    try:
        command = json.loads(message)
        if command.get("interval", 0) > 0:
            interval = command["interval"]
    except ValueError:
        pass


def connect_wifi():
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect(WIFI_SSID, WIFI_PASSWORD)
    while not wlan.isconnected():
        time.sleep(0.5)


def main():
    connect_wifi()
    delay = 1
    while True:
        try:
            client = MQTTClient(DEVICE_ID, BROKER, keepalive=30)
            client.set_last_will(BASE + "/status", "offline", retain=True, qos=1)
            client.set_callback(on_command)
            client.connect(clean_session=False)
            client.publish(BASE + "/status", "online", retain=True, qos=1)
            client.subscribe(BASE + "/cmd", qos=1)
            delay = 1
            while True:
                reading = {"id": DEVICE_ID, "temperature": round(read_temperature(), 2)}
                client.publish(BASE + "/telemetry", json.dumps(reading), qos=1)
                deadline = time.ticks_add(time.ticks_ms(), int(interval * 1000))
                while time.ticks_diff(deadline, time.ticks_ms()) > 0:
                    client.check_msg()  # handles commands without blocking
                    time.sleep(0.1)
        except OSError:
            # Broker or Wi-Fi gone: back off (1, 2, 4 … 60 s) and try again.
            time.sleep(delay)
            delay = min(delay * 2, 60)


main()
