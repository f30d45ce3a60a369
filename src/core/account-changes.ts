import { localInvalidations, type Invalidation, type Invalidations } from '../shared-state/invalidations.js';

/**
 * Tells caches that something changed: an account's state (credits, numbers, users), a user (status), an API key
 * (revoked or enabled), a device's registrations (between nodes only). Services notify after their write commits; a cache drops what it holds. With other nodes
 * (DIALPLANE_REDIS_URL), each change is published to them too, and theirs arrive here as if made in this process;
 * when messages may have been lost (the channel was down), every cache is told to drop everything.
 */
export class AccountChanges {
  private readonly accountListeners = new Set<(accountId: string) => void>();
  private readonly userListeners = new Set<(userId: string) => void>();
  private readonly keyListeners = new Set<(keyId: string) => void>();
  private readonly deviceListeners = new Set<(deviceId: string) => void>();
  private readonly everythingListeners = new Set<() => void>();

  constructor(private readonly shared: Invalidations = localInvalidations) {
    shared.subscribe((invalidation) => this.tellLocal(invalidation));
    shared.onMissed(() => {
      for (const listener of this.everythingListeners) listener();
    });
  }

  /** Changes to an account's state. */
  subscribe(listener: (accountId: string) => void): () => void {
    this.accountListeners.add(listener);
    return () => this.accountListeners.delete(listener);
  }

  /** Changes to a user (status, permissions). */
  subscribeUsers(listener: (userId: string) => void): () => void {
    this.userListeners.add(listener);
    return () => this.userListeners.delete(listener);
  }

  /** An API key revoked or enabled again. */
  subscribeKeys(listener: (keyId: string) => void): () => void {
    this.keyListeners.add(listener);
    return () => this.keyListeners.delete(listener);
  }

  /** Another node changed a device's registrations (this node's own changes are not told here). */
  subscribeDevices(listener: (deviceId: string) => void): () => void {
    this.deviceListeners.add(listener);
    return () => this.deviceListeners.delete(listener);
  }

  /** Changes may have been missed: drop everything. */
  subscribeEverything(listener: () => void): () => void {
    this.everythingListeners.add(listener);
    return () => this.everythingListeners.delete(listener);
  }

  notify(accountId: string): void {
    this.tell({ topic: 'account', id: accountId });
  }

  notifyUser(accountId: string, userId: string): void {
    this.tell({ topic: 'user', id: userId });
    this.notify(accountId);
  }

  notifyKey(keyId: string): void {
    this.tell({ topic: 'api-key', id: keyId });
  }

  /** Tells the other nodes that a device's registrations changed in the store; this node's registrar made the change. */
  publishDevice(deviceId: string): void {
    this.shared.publish({ topic: 'device', id: deviceId });
  }

  private tell(invalidation: Invalidation): void {
    this.tellLocal(invalidation);
    this.shared.publish(invalidation);
  }

  private tellLocal({ topic, id }: Invalidation): void {
    const listeners = {
      account: this.accountListeners,
      user: this.userListeners,
      'api-key': this.keyListeners,
      device: this.deviceListeners,
    }[topic];
    for (const listener of listeners) listener(id);
  }
}
