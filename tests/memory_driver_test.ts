// The storage-driver conformance suite against the reference MemoryDriver.
import { MemoryDriver } from "../mod.ts";
import { testDriverConformance } from "../testing/mod.ts";

testDriverConformance("memory", () => new MemoryDriver());
