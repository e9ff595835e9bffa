// A TypeDoc plugin (typedoc.json's "plugin"): the API reference's index grouped
// by area, and each class page starting with what users call first, with what
// EventEmitter or Error gives every such class last. Areas follow lib/'s
// folders, so a new export lands in its area with no tag in the sources; an
// export no rule places, or a class member no group names, is a warning, and
// `npm run docs` fails on warnings.
import path from 'node:path';
import process from 'node:process';
import { Converter, ReflectionGroup, ReflectionKind } from 'typedoc';

/** Where an export is declared (relative to the repository) → its area, first match wins. */
const AREAS = [
  [/^lib\/tunnels?(\/|\.ts$)/, 'Tunnels'],
  [/^lib\/internal\/errors\.ts$/, 'Errors'],
  [/^lib\/(tun-device\.ts$|device\/|internal\/typed-emitter\.ts$)/, 'Device'],
  [/^lib\/netlink\//, 'Netlink'],
  [/^lib\/packet\//, 'Packets'],
];
const AREA_ORDER = ['Device', 'Netlink', 'Packets', 'Tunnels', 'Errors'];

/** Each class's members in groups, in the order a reader meets them. */
const MEMBER_GROUPS = {
  TunDevice: {
    'Open, read, write, close': ['open', 'readable', 'writable', 'close', 'destroy', 'closed', '[asyncDispose]'],
    'Addresses, routes and link': [
      'addAddress',
      'removeAddress',
      'addresses',
      'up',
      'down',
      'setMtu',
      'getMtu',
      'addRoute',
      'removeRoute',
      'link',
      'setMacAddress',
      'setTxQueueLength',
    ],
    Batches: ['readBatches', 'pauseBatches', 'resumeBatches', 'writePackets', 'whenWritable'],
    'What the device is': [
      'name',
      'mode',
      'index',
      'packetInfo',
      'maxPacketSize',
      'offload',
      'multiQueue',
      'netns',
      'stats',
      'fd',
    ],
    'Persistent devices and fds': ['create', 'delete', 'fromFd', 'setPersist', 'setOwner', 'setGroup', 'getFlags'],
    'Queues, filters and buffers': [
      'detachQueue',
      'attachQueue',
      'queueAttached',
      'attachFilter',
      'detachFilter',
      'getSendBufferSize',
      'setSendBufferSize',
    ],
    'Event loop': ['ref', 'unref'],
  },
  Netlink: {
    'Open and close': ['open', 'watch', 'close', 'closed', '[dispose]'],
    Addresses: ['addAddress', 'removeAddress', 'addresses'],
    Links: ['link', 'links', 'setUp', 'setDown', 'setMtu', 'setMacAddress', 'setTxQueueLength'],
    Routes: ['addRoute', 'removeRoute', 'routes'],
  },
  NetlinkWatcher: {
    'Listen and close': ['on', 'once', 'off', 'close', 'closed', '[dispose]'],
    'Event loop and buffer': ['ref', 'unref', 'receiveBufferSize'],
  },
  PcapWriter: {
    'Write a capture': ['forDevice', 'write', 'end', 'packets', 'constructor'],
  },
};

/** The base a member comes from, as a reader knows it (the library's typed EventEmitter is EventEmitter). */
function inheritedGroup(member) {
  const from = member.inheritedFrom?.name.split('.')[0];
  if (from === undefined) return undefined;
  return `Inherited from ${from === 'TypedEventEmitter' ? 'EventEmitter' : from}`;
}

function areaOf(reflection) {
  // A name a second entry point re-exports belongs where its declaration does.
  if (reflection.kindOf(ReflectionKind.Reference)) return areaOf(reflection.getTargetReflectionDeep());
  if (reflection.kindOf(ReflectionKind.Class) && /Error$/.test(reflection.name)) return 'Errors';
  const file = reflection.sources?.[0]?.fullFileName;
  if (file === undefined) return undefined;
  const relative = path.relative(process.cwd(), file).split(path.sep).join('/');
  return AREAS.find(([pattern]) => pattern.test(relative))?.[1];
}

/** Replaces `owner.groups` with groups titled as `titles` says, in `order`, each child in its given order. */
function regroup(owner, children, groupOf, order) {
  const groups = new Map();
  for (const child of children) {
    const title = groupOf(child);
    if (!groups.has(title)) groups.set(title, new ReflectionGroup(title, owner));
    groups.get(title).children.push(child);
  }
  const rank = (title) => (order.includes(title) ? order.indexOf(title) : order.length + (title.startsWith('Inherited') ? 1 : 0));
  owner.groups = [...groups.values()].sort((a, b) => rank(a.title) - rank(b.title));
}

export function load(app) {
  // A page is named by its first heading, as on GitHub (TypeDoc would name it after its file).
  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, document) => {
    const heading = /^# (.+)$/m.exec(document.content.find((part) => part.kind === 'text')?.text ?? '');
    if (heading !== null) document.name = heading[1].trim();
  });
  // After TypeDoc's own grouping (priority -100) and before its categories (-200).
  app.converter.on(
    Converter.EVENT_RESOLVE_END,
    (context) => {
      const project = context.project;
      // With one entry point the exports are the project's children; with more, each module's.
      const modules = (project.children ?? []).filter((child) => child.kindOf(ReflectionKind.Module));
      const containers = modules.length > 0 ? modules : [project];
      const areaGroup = (child) => {
        if (child.isDocument()) return 'Documents';
        if (child.kindOf(ReflectionKind.Module)) return 'Modules';
        const area = areaOf(child);
        if (area !== undefined) return area;
        app.logger.warn(`${child.name} has no area: add its folder to AREAS in scripts/typedoc-areas.mjs`);
        return 'Other';
      };
      if (modules.length > 0) regroup(project, project.childrenIncludingDocuments ?? [], areaGroup, ['Documents', 'Modules']);
      for (const container of containers)
        regroup(container, container.childrenIncludingDocuments ?? [], areaGroup, ['Documents', ...AREA_ORDER]);
      for (const reflection of containers.flatMap((container) => container.children ?? [])) {
        if (!reflection.kindOf(ReflectionKind.Class) || !reflection.children) continue;
        const named = MEMBER_GROUPS[reflection.name] ?? {};
        const titles = Object.keys(named);
        const place = new Map(Object.entries(named).flatMap(([title, names]) => names.map((n, i) => [n, [title, i]])));
        const members = [...reflection.children].sort((a, b) => (place.get(a.name)?.[1] ?? 0) - (place.get(b.name)?.[1] ?? 0));
        regroup(
          reflection,
          members,
          (member) => {
            const title = place.get(member.name)?.[0] ?? inheritedGroup(member);
            if (title !== undefined) return title;
            if (titles.length > 0)
              app.logger.warn(
                `${reflection.name}.${member.name} is in no group: add it to MEMBER_GROUPS in scripts/typedoc-areas.mjs`,
              );
            return ReflectionKind.pluralString(member.kind);
          },
          titles,
        );
      }
    },
    -150,
  );
}
