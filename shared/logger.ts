import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs; handlers append connectionId (and fan-out statusId) as correlation keys. */
export const logger = new Logger({ serviceName: 'updraft' });
