/**
 * A reader of the Dockerfile's few constructs this repository uses (ARG, FROM ... AS, RUN, COPY,
 * USER, ENTRYPOINT, CMD, line continuations), and the checks that matter for the controller's image.
 * There is no Docker engine where the tests run, so the file itself is what is checked.
 */

export interface Instruction {
  keyword: string;
  /** The instruction's text after the keyword, continuations joined. */
  args: string;
  line: number;
}

export interface Stage {
  /** The image or earlier stage it starts from, ARG defaults substituted. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === undefined && (line === '' || line.startsWith('#'))) return;
    if (pending !== undefined && line.startsWith('#')) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    pending = pending
      ? { text: `${pending.text} ${body}`, line: pending.line }
      : { text: body, line: index + 1 };
    if (!continued) {
      const match = /^(\S+)\s*(.*)$/.exec(pending.text.trim());
      if (match)
        instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line });
      pending = undefined;
    }
  });

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      stages.push({
        from: substitute(image, globalArgs),
        ...(as?.toUpperCase() === 'AS' && name !== undefined ? { name } : {}),
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [key = '', value = ''] = instruction.args.split('=', 2);
        globalArgs.set(key.trim(), value.trim());
      }
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

function substitute(text: string, args: Map<string, string>): string {
  return text.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_, braced?: string, bare?: string) => args.get(braced ?? bare ?? '') ?? '',
  );
}

/** An exec-form instruction's words, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const words = JSON.parse(args) as unknown;
    return Array.isArray(words) && words.every((w) => typeof w === 'string') ? words : undefined;
  } catch {
    return undefined;
  }
}

/** An image reference is pinned by a digest, or by a tag that names an exact version (x.y.z). */
export function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag !== undefined && /(^|[^0-9.])\d+\.\d+\.\d+([^0-9.]|$)/.test(tag);
}

const flagsOf = (args: string): Map<string, string> =>
  new Map(
    args
      .split(/\s+/)
      .filter((w) => w.startsWith('--'))
      .map((w) => {
        const [key = '', value = ''] = w.slice(2).split('=', 2);
        return [key, value];
      }),
  );

const operandsOf = (args: string): string[] =>
  args.split(/\s+/).filter((w) => w !== '' && !w.startsWith('--'));

/** Every problem of the image as the Dockerfile describes it; empty when it is fit to ship. */
export function dockerfileProblems(dockerfile: Dockerfile): string[] {
  const problems: string[] = [];
  const stageNames = new Set(dockerfile.stages.flatMap((s) => (s.name === undefined ? [] : [s.name])));
  const runtime = dockerfile.stages.at(-1);
  if (runtime === undefined) return ['the Dockerfile has no FROM'];

  for (const stage of dockerfile.stages) {
    if (stageNames.has(stage.from)) continue;
    if (!isPinned(stage.from))
      problems.push(
        `FROM ${stage.from || '(empty)'} is not pinned to an exact version tag (x.y.z) or a digest`,
      );
  }

  for (const stage of dockerfile.stages) {
    for (const instruction of stage.instructions) {
      const command = execForm(instruction.args)?.join(' ') ?? instruction.args;
      if (/\bnpm\s+(run\s+)?start\b/.test(command))
        problems.push(`line ${instruction.line}: npm start: npm would stand between the signals and node`);
    }
  }

  const users = runtime.instructions.filter((i) => i.keyword === 'USER');
  const user = users.at(-1)?.args;
  if (user === undefined) {
    problems.push('the final stage sets no USER: the image would run as root');
  } else {
    const [uid = '', gid] = user.split(':');
    if (!/^\d+$/.test(uid) || (gid !== undefined && !/^\d+$/.test(gid)))
      problems.push(`USER ${user} is not numeric: Kubernetes' runAsNonRoot can only verify a numeric uid`);
    else if (Number(uid) === 0) problems.push(`USER ${user} is root`);
  }

  const entrypoint = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  const words = entrypoint && execForm(entrypoint.args);
  if (entrypoint === undefined) problems.push('the final stage has no ENTRYPOINT');
  else if (words === undefined)
    problems.push(
      `ENTRYPOINT ${entrypoint.args} is in shell form: a shell would be PID 1 and swallow SIGTERM`,
    );
  else if (words[0] !== 'node') problems.push(`ENTRYPOINT ${entrypoint.args} does not run node directly`);
  for (const cmd of runtime.instructions.filter((i) => i.keyword === 'CMD')) {
    if (/\b(npm|yarn|pnpm)\b/.test(cmd.args)) problems.push(`CMD ${cmd.args} runs a package manager`);
  }

  // The runtime's node_modules: copied from a stage that installs production dependencies only, and
  // no install in the runtime stage itself that could bring the dev dependencies back.
  const modules = runtime.instructions.filter(
    (i) => i.keyword === 'COPY' && operandsOf(i.args).some((w) => /node_modules\/?$/.test(w)),
  );
  if (modules.length === 0) {
    problems.push('the final stage copies no node_modules from a production-dependencies stage');
  }
  for (const copy of modules) {
    const from = flagsOf(copy.args).get('from');
    const source = dockerfile.stages.find((s) => s.name === from);
    const installs = source?.instructions.filter(
      (i) => i.keyword === 'RUN' && /\bnpm\s+(ci|install|i)\b/.test(i.args),
    );
    if (source === undefined || installs === undefined || installs.length === 0) {
      problems.push(
        `line ${copy.line}: node_modules come from ${from ?? 'the build context'}, not from an npm ci stage`,
      );
    } else if (!installs.every((i) => /\bnpm\s+ci\b/.test(i.args) && /--omit[= ]dev\b/.test(i.args))) {
      problems.push(
        `stage ${from ?? ''} installs node_modules without \`npm ci --omit=dev\`: dev dependencies would ship`,
      );
    }
  }
  for (const run of runtime.instructions.filter((i) => i.keyword === 'RUN')) {
    if (/\bnpm\s+(ci|install|i)\b/.test(run.args) && !/--omit[= ]dev\b/.test(run.args))
      problems.push(`line ${run.line}: the final stage installs dependencies without --omit=dev`);
  }
  return problems;
}

/** The build-context paths COPY instructions read (not those copied from another stage). */
export function contextSources(dockerfile: Dockerfile): string[] {
  return dockerfile.stages.flatMap((stage) =>
    stage.instructions
      .filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !flagsOf(i.args).has('from'))
      .flatMap((i) => operandsOf(i.args).slice(0, -1)),
  );
}
