import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { get } from '../shared/domain/feed';
import { messageHandler } from '../shared/edge';
import { validateGet } from '../shared/protocol';
import { ChannelHeads, RecentHeads } from '../shared/store/heads';
import { StatusStore } from '../shared/store/statuses';

const db = documentClient();
const deps = { heads: new RecentHeads(new ChannelHeads(db, config.statusesTable())), statuses: new StatusStore(db, config.statusesTable()) };

/** Statuses by id: what a link to a status, or a thread's root, needs. */
export const handler = messageHandler(validateGet, async ({ request }) => ({ type: 'statuses', ...(await get(deps, request)) }));
