import { readFile } from 'node:fs/promises';

/** What a command needs from the outside world; tests pass their own. */
export interface CommandIo {
  readFile(path: string): Promise<string>;
  stdout(line: string): void;
  stderr(line: string): void;
}

export const processIo: CommandIo = {
  readFile: (path) => readFile(path, 'utf8'),
  stdout: (line) => {
    console.log(line);
  },
  stderr: (line) => {
    console.error(line);
  },
};
