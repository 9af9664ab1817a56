// What a seed config may say (cluster.seed's input, and the dashboard's seed-form check): one schema,
// and the SeedConfig type a cluster record stores. Nothing here touches sfmd's state.
import { z } from 'zod';
import { memoryMiBSchema, vcpusSchema } from '../common/wire.ts';

export const seedConfigSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\w.-]+$/, 'letters, digits, _ . - only')
      .nullable()
      .default(null),
    diskImage: z.string().min(1).max(4096).nullable().default(null),
    kernel: z.string().min(1).max(4096).nullable().default(null),
    args: z.string().max(4096).nullable().default(null),
    vcpus: vcpusSchema,
    memoryMiB: memoryMiBSchema,
    /** Ports of the master VM the outside may connect to through the router (TCP and UDP). */
    inboundPorts: z.array(z.number().int().min(1).max(65535)).max(64).optional(),
  })
  .strict();

/** A seed config after its defaults: what seedCluster gets and the cluster record keeps (as JSON). */
export type SeedConfig = z.output<typeof seedConfigSchema>;
