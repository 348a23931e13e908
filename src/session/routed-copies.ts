/**
 * The routing ids of the QoS 2 messages a session took (cluster mode): a message routed to it
 * again under the same id — its publisher's resend after the publishing node died, or an inbox
 * batch applied twice — is not delivered a second time. Kept after the delivery completed (that
 * is when a late copy arrives), bounded: the oldest ids are forgotten first.
 */
const MAX_REMEMBERED = 4096;

export class RoutedCopies {
  private readonly ids = new Set<string>();

  has(routingId: string): boolean {
    return this.ids.has(routingId);
  }

  add(routingId: string): void {
    if (this.ids.has(routingId)) return;
    this.ids.add(routingId);
    if (this.ids.size > MAX_REMEMBERED) this.ids.delete(this.ids.values().next().value!);
  }
}
