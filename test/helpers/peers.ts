/** Real MQTT peers from Debian packages, when installed; tests say which package they need. */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

function hasPythonModule(python: string, module: string): boolean {
  try {
    execFileSync(python, ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const peers = {
  mosquittoClients: existsSync('/usr/bin/mosquitto_sub') && existsSync('/usr/bin/mosquitto_pub'),
  mosquitto: existsSync('/usr/sbin/mosquitto'),
  /** Debian's python3 (not a pyenv one) is where python3-paho-mqtt installs. */
  paho: existsSync('/usr/bin/python3') && hasPythonModule('/usr/bin/python3', 'paho.mqtt.client'),
};

/** Says out loud that a group of tests is skipped and which package would enable it. */
export function announceSkip(isAvailable: boolean, what: string, debianPackage: string): void {
  if (!isAvailable) {
    process.stderr.write(`SKIPPED: ${what} needs the Debian package ${debianPackage} (apt-get install ${debianPackage})\n`);
  }
}
