import { Decider, fold } from '../src/decider';

/** The decision time a `when` uses unless a test gives one. */
export const DEFAULT_NOW = 1_000_000;

type ErrorClass<Err extends Error> = abstract new (...args: never[]) => Err;

/** The initial-state argument: optional for deciders born empty (Init = void), required for those born from a config. */
type InitArgs<Init> = undefined extends Init ? [init?: Init] : [init: Init];

/**
 * Given / when / then for a decider (emmett's DeciderSpecification, in a few lines):
 * `DeciderSpec.for(decider).given(events).when(command, now).then(events)`.
 */
export class DeciderSpec<Command, Event, State> {
  private constructor(
    private readonly decider: Pick<Decider<Command, Event, State, never>, 'decide' | 'evolve'>,
    private readonly initialState: () => State,
  ) {}

  static for<Command, Event, State, Init = void>(
    decider: Decider<Command, Event, State, Init>,
    ...init: InitArgs<Init>
  ): DeciderSpec<Command, Event, State> {
    // The argument may be left out only when `Init` admits undefined (void), so the cast is sound.
    const initial = (): State => decider.initialState(init[0] as Init);
    return new DeciderSpec(decider, initial);
  }

  given(events: readonly Event[] = []): { when: (command: Command, now?: number) => Outcome<Event> } {
    return {
      when: (command, now = DEFAULT_NOW) => {
        // The state is folded afresh for the decision: evolve may reuse the collections of the state it is given.
        const decide = (): Event[] => this.decider.decide(command, fold(this.decider.evolve, this.initialState(), events), now);
        return new Outcome(decide);
      },
    };
  }

  when(command: Command, now?: number): Outcome<Event> {
    return this.given([]).when(command, now);
  }
}

export class Outcome<Event> {
  constructor(private readonly decide: () => Event[]) {}

  then(expected: readonly Event[]): void {
    expect(this.decide()).toStrictEqual(expected);
  }

  thenNothing(): void {
    this.then([]);
  }

  thenThrows<Err extends Error>(errorClass: ErrorClass<Err>, expected?: Partial<Err>): void {
    let thrown: unknown = undefined;
    try {
      this.decide();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(errorClass);
    if (expected) expect(thrown).toMatchObject(expected);
  }
}
