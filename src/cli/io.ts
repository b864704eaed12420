import { readFile } from 'node:fs/promises';

/** What a command needs from the outside world; tests pass their own. */
export interface CommandIo {
  /** `-` reads standard input. */
  readFile(path: string): Promise<string>;
  stdout(line: string): void;
  stderr(line: string): void;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const processIo: CommandIo = {
  readFile: (path) => (path === '-' ? readStdin() : readFile(path, 'utf8')),
  stdout: (line) => {
    console.log(line);
  },
  stderr: (line) => {
    console.error(line);
  },
};
