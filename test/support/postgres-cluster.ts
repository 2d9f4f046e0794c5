import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Where Debian's `postgresql` package puts a server's programs: one directory per major version. */
const DEBIAN_POSTGRESQL = '/usr/lib/postgresql';

/** How `pg_ctl stop` ends the server: `fast` is a clean shutdown, `immediate` a crash (recovery on the next start). */
export type StopMode = 'fast' | 'immediate';

/** A PostgreSQL server of the test's own, which the test may crash, stop and start again. */
export interface PostgresCluster {
  /** Its superuser's URL (trust authentication): `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** Starts it again after `stop()`, on the same port and data. */
  start: () => Promise<void>;
  stop: (mode?: StopMode) => Promise<void>;
  restart: (mode?: StopMode) => Promise<void>;
  /**
   * SIGSTOPs every process of the server (SIGCONT with `false`): connections stay open and nothing
   * answers, as with a host that hangs or a network that drops packets.
   */
  freeze: (stop: boolean) => void;
  /** Stops it (immediate) and deletes its directory. Also done when the process exits. */
  remove: () => void;
}

/**
 * A throwaway cluster: `initdb` into a temp directory, the server on 127.0.0.1 on a free port with its
 * socket in that directory, trust authentication, nothing shared with the machine's own server. The
 * programs are Debian's (`apt-get install postgresql`). PostgreSQL refuses to run as root, so when the
 * tests run as root the cluster belongs to the `postgres` user and its programs run as that user.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(path.join(tmpdir(), 'items-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' })));
    chownSync(dir, uid!, gid!);
  }
  /** A server program, as the cluster's owner. */
  const pg = (program: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args], { cwd: dir })
      : run(path.join(bin, program), args, { cwd: dir });
  const pgSync = (program: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args], {
          cwd: dir,
          stdio: 'ignore',
        })
      : execFileSync(path.join(bin, program), args, { cwd: dir, stdio: 'ignore' });

  let running = false;
  let frozen = false;
  let removed = false;
  const freeze = (stop: boolean) => {
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
    for (const pid of [postmaster, ...childrenOf(postmaster)]) process.kill(pid, stop ? 'SIGSTOP' : 'SIGCONT');
    frozen = stop;
  };
  const remove = () => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    // Also after a start that timed out: the server may have come up after all.
    if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
      try {
        if (frozen) freeze(false);
        pgSync('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
      } catch {
        // Already gone: the directory goes all the same.
      }
    }
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  // A run cut short (a failed beforeAll, Ctrl-C) leaves no server behind.
  process.on('exit', remove);

  try {
    // --no-sync: the files initdb writes are not needed after a machine crash, only after a server crash.
    await pg('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  } catch (err) {
    remove();
    throw new Error(`initdb failed: ${errorText(err)}`, { cause: err });
  }

  let port = await freePort();
  const start = async () => {
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
    try {
      await pg('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options]);
      running = true;
    } catch (err) {
      throw new Error(`the PostgreSQL cluster in ${dir} did not start: ${errorText(err)}\n${serverLog()}`, {
        cause: err,
      });
    }
  };
  const stop = async (mode: StopMode = 'fast') => {
    if (!running) return;
    await pg('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
    running = false;
  };
  const serverLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2_000) : '');

  // The port was free a moment ago; another process may have taken it since.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt === 3 || !/could not bind|already in use/i.test(serverLog())) {
        remove();
        throw err;
      }
      port = await freePort();
    }
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    restart: async (mode: StopMode = 'fast') => {
      await stop(mode);
      await start();
    },
    freeze,
    remove,
  };
}

/** The pids whose parent is `pid` (the postmaster's backends and helpers), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // The field after the parenthesised command name, which may hold spaces, is the state, then the ppid.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

/** The newest PostgreSQL that Debian's packages installed, or an error saying how to get one. */
function postgresBinDir(): string {
  const versions = existsSync(DEBIAN_POSTGRESQL)
    ? readdirSync(DEBIAN_POSTGRESQL)
        .filter((version) => existsSync(path.join(DEBIAN_POSTGRESQL, version, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(
      `no PostgreSQL server programs under ${DEBIAN_POSTGRESQL}/<version>/bin: apt-get install postgresql ` +
        '(or point PG_TEST_URL at a server)',
    );
  return path.join(DEBIAN_POSTGRESQL, versions[0]!, 'bin');
}

function errorText(err: unknown): string {
  const { message, stderr } = err as { message?: string; stderr?: string };
  return (stderr?.trim() || message) ?? String(err);
}
