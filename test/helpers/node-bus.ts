import { DEFAULT_NODE_COMMAND_TIMEOUT_MS, NodeUnreachable, type NodeBus, type NodeCommandHandler } from '../../src/shared-state/node-bus.js';

/**
 * Node buses of one process that reach each other, as the Redis bus connects nodes: a command goes to the named
 * node's handler, an event to every other node's listeners (on a later tick, as a message would arrive).
 */
export function memoryNodeBuses(): { bus(nodeId: string): NodeBus } {
  const nodes = new Map<string, { handler: NodeCommandHandler | undefined; listeners: Set<(event: unknown, from: string) => void> }>();
  return {
    bus(nodeId) {
      const self = { handler: undefined as NodeCommandHandler | undefined, listeners: new Set<(event: unknown, from: string) => void>() };
      nodes.set(nodeId, self);
      return {
        shared: true,
        commandTimeoutMs: DEFAULT_NODE_COMMAND_TIMEOUT_MS,
        request(node, command, timeoutMs = DEFAULT_NODE_COMMAND_TIMEOUT_MS) {
          const handler = nodes.get(node)?.handler;
          if (!handler) return Promise.reject(new NodeUnreachable(node, 'not_listening', `node ${node} is not listening`));
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new NodeUnreachable(node, 'timeout', `node ${node} did not answer`)), timeoutMs);
            void handler(JSON.parse(JSON.stringify(command)), nodeId).then((reply) => {
              clearTimeout(timer);
              resolve(reply);
            });
          });
        },
        serve(handler) {
          self.handler = handler;
          return () => (self.handler = undefined);
        },
        broadcast(event) {
          const copy: unknown = JSON.parse(JSON.stringify(event));
          setImmediate(() => {
            for (const [id, node] of nodes) if (id !== nodeId) for (const listener of node.listeners) listener(copy, nodeId);
          });
        },
        onEvent(listener) {
          self.listeners.add(listener);
          return () => self.listeners.delete(listener);
        },
        onMissed: () => () => undefined,
        async close() {
          nodes.delete(nodeId);
        },
      };
    },
  };
}
