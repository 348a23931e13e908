// A sensor for ESP8266 / ESP32 (Arduino core) with PubSubClient.
// Cannot be built here (no board, no Arduino toolchain): open in the Arduino IDE, install the
// PubSubClient library, set the Wi-Fi and broker below, and upload. No wiring: it reports the
// Wi-Fi signal strength and a simulated temperature. Set USE_TLS to 1 for mqtts on 8883.
#include <PubSubClient.h>
#if defined(ESP8266)
#include <ESP8266WiFi.h>
#else
#include <WiFi.h>
#endif
#define USE_TLS 0
#if USE_TLS
#include <WiFiClientSecure.h>
WiFiClientSecure net;  // set the CA with net.setCACert(...) (ESP32) or net.setTrustAnchors (ESP8266)
#else
WiFiClient net;
#endif

const char* WIFI_SSID = "your-wifi";
const char* WIFI_PASSWORD = "your-password";
const char* BROKER = "192.168.1.10";  // the gateway running Midge
const uint16_t PORT = USE_TLS ? 8883 : 1883;

PubSubClient mqtt(net);
String deviceId;
unsigned long intervalMs = 5000;
unsigned long lastReading = 0;
unsigned long backoffMs = 1000;

void onCommand(char* topic, byte* payload, unsigned int length) {
  // {"interval": 10} changes the reporting period (seconds); anything else is ignored.
  String text = String((const char*)payload).substring(0, length);
  int at = text.indexOf("\"interval\"");
  if (at >= 0) {
    long seconds = text.substring(text.indexOf(':', at) + 1).toInt();
    if (seconds > 0) intervalMs = seconds * 1000UL;
  }
}

void connectMqtt() {
  String base = "devices/" + deviceId;
  while (!mqtt.connected()) {
    // Will: "offline" retained on devices/<id>/status if we vanish.
    if (mqtt.connect(deviceId.c_str(), (base + "/status").c_str(), 1, true, "offline")) {
      mqtt.publish((base + "/status").c_str(), "online", true);
      mqtt.subscribe((base + "/cmd").c_str(), 1);
      backoffMs = 1000;
    } else {
      delay(backoffMs);  // back off: 1, 2, 4 … 60 s
      backoffMs = min(backoffMs * 2, 60000UL);
    }
  }
}

void setup() {
  Serial.begin(115200);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) delay(500);
  deviceId = "esp-" + String(WiFi.macAddress());
  deviceId.replace(":", "");
  mqtt.setServer(BROKER, PORT);
  mqtt.setCallback(onCommand);
}

void loop() {
  if (!mqtt.connected()) connectMqtt();
  mqtt.loop();
  if (millis() - lastReading >= intervalMs) {
    lastReading = millis();
    char json[128];
    snprintf(json, sizeof json, "{\"id\":\"%s\",\"temperature\":%.2f,\"rssi\":%d}", deviceId.c_str(),
             20.0 + (millis() % 1000) / 1000.0, (int)WiFi.RSSI());
    mqtt.publish(("devices/" + deviceId + "/telemetry").c_str(), json);
  }
}
