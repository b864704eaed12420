import type { Command } from 'commander';
import { ConfigError, loadControllerConfig, SETTINGS, type SettingName } from '../../controller/config.js';
import { EXIT } from '../exit-codes.js';

/** `canaria controller`: the controller itself, as the container image runs it. */
export function registerController(program: Command): void {
  const command = program
    .command('controller')
    .description('run the canaria controller against the current cluster')
    .addHelpText('after', '\nEvery flag can also be set through the environment variable named in brackets.');
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const help = `${setting.description} [${setting.env}]${'default' in setting ? ` (default "${setting.default}")` : ''}`;
    if (name === 'prometheusHeaders') {
      command.option(`${setting.flag} <header>`, help, (value: string, all: string[]) => [...all, value], []);
    } else {
      command.option(`${setting.flag} <value>`, help);
    }
  }
  command.action(async (options: Record<string, string | string[] | undefined>) => {
    const { prometheusHeader, ...rest } = options;
    let config;
    try {
      config = loadControllerConfig({ ...rest, prometheusHeaders: prometheusHeader });
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        process.exitCode = EXIT.usage;
        return;
      }
      throw err;
    }
    // the controller and the Kubernetes client load only when the controller runs
    const { startController } = await import('./controller-start.js');
    process.exitCode = await startController(config);
  });
}
