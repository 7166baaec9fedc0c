// berthd's one logging surface. Every module takes a Logger so tests can silence or
// capture it; berthd's own is winston writing JSON lines to stderr (createLogger), and
// a winston Logger satisfies the interface, so modules never depend on winston.
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface Logger {
  error(msg: string, meta?: object): void;
  warn(msg: string, meta?: object): void;
  info(msg: string, meta?: object): void;
  debug(msg: string, meta?: object): void;
  log(level: LogLevel, msg: string, meta?: object): void;
  /** A logger that adds `meta` to every line (component, request id). */
  child(meta: object): Logger;
}

export function createLogger(level: string, stream: NodeJS.WritableStream = process.stderr): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
}

const silent: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  log() {},
  child: () => silent,
};

/** A logger that drops everything (unit tests, defaults of modules used alone). */
export function silentLogger(): Logger {
  return silent;
}
