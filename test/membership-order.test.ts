/**
 * The cluster mirror's ordering (src/store/membership-order.ts): facts of one user arrive from several
 * nodes in any order; each (user, group) follows the highest seq seen, within bounded memory.
 */
import t from 'tap';
import { Membership } from '../src/auth/policy.js';
import { OrderedMembership } from '../src/store/membership-order.js';

const join = (userId: string, groupId: string, seq: number) => ({ userId, groupId, seq, member: true });
const leave = (userId: string, groupId: string, seq: number) => ({ userId, groupId, seq, member: false });

t.test('a stale join arriving after a later leave adds nothing; a repeat changes nothing', async (t) => {
  const membership = new Membership();
  const ordered = new OrderedMembership(membership);
  t.ok(ordered.apply(leave('ann', 'g', 6)), 'the leave (seq 6) arrives first');
  t.notOk(ordered.apply(join('ann', 'g', 5)), 'the join it followed (seq 5) is stale');
  t.notOk(membership.isMember('ann', 'g'));
  t.ok(ordered.apply(join('ann', 'h', 4)), 'an older fact of another group still applies');
  t.ok(membership.isMember('ann', 'h'));
  t.notOk(ordered.apply(join('ann', 'h', 4)), 'the same fact again (a node hearing its own) is no news');
  t.ok(ordered.apply(join('ann', 'g', 7)), 'a later join applies');
  t.equal(membership.groupCount('ann'), 2);
});

t.test('a snapshot is a floor: nothing at or below its seq is news, newer facts stay', async (t) => {
  const membership = new Membership();
  const ordered = new OrderedMembership(membership);
  ordered.apply(join('ann', 'old', 2));
  ordered.apply(join('ann', 'new', 12));
  ordered.snapshot('ann', 10, ['g']);
  t.ok(membership.isMember('ann', 'g'), 'the stored group is there');
  t.notOk(membership.isMember('ann', 'old'), 'a group the record lacks, known only from before it, is gone');
  t.ok(membership.isMember('ann', 'new'), 'a fact newer than the record stays');
  t.notOk(ordered.apply(join('ann', 'x', 9)), 'a join at or below the record is already in it (or undone)');
  t.notOk(ordered.apply(leave('ann', 'g', 10)), 'a leave at the record seq is stale too');
  t.ok(ordered.apply(leave('ann', 'g', 11)), 'a leave above it applies');
  ordered.snapshot('bob', 3, []);
  t.notOk(ordered.apply(join('bob', 'g', 3)), "a user without groups gets a floor as well");
});

t.test('tombstones are bounded: the oldest dropped raises its user floor', async (t) => {
  const membership = new Membership();
  const ordered = new OrderedMembership(membership, { tombstones: 2, floors: 10 });
  ordered.apply(leave('ann', 'a', 5));
  ordered.apply(leave('ann', 'b', 6));
  ordered.apply(leave('bob', 'c', 7)); // drops ann/a (seq 5): ann's floor is now 5
  t.equal(ordered.last('ann', 'a'), 5, 'the dropped tombstone lives on as the floor');
  t.notOk(ordered.apply(join('ann', 'a', 4)), 'a stale join is still refused');
  t.equal(ordered.last('ann', 'b'), 6, 'a kept tombstone is exact');
  t.ok(ordered.apply(join('ann', 'z', 8)), 'facts above the floor apply');
  t.ok(ordered.apply(leave('ann', 'z', 9)));
  t.notOk(membership.isMember('ann', 'z'));
});
