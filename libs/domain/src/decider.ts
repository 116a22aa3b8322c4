/**
 * A decider is three pure functions (emmett's shape). `now` is passed in: no clock, no I/O, no framework.
 * `evolve` may reuse the collections of the state it is given (folds are linear: the previous reference is never
 * used again), which keeps replaying a shard with 100k orders linear instead of quadratic.
 */
export interface Decider<Command, Event, State, Init = void> {
  readonly decide: (command: Command, state: State, now: number) => Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: (init: Init) => State;
}

export const fold = <Event, State>(evolve: (s: State, e: Event) => State, state: State, events: readonly Event[]): State =>
  events.reduce(evolve, state);
