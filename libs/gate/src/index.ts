/** The eligibility gate (Redis Lua and in-process adapters) lands with issue #4 (the funnel). */
export {};
