/** Small schema parts the config files share. */
import * as z from 'zod';

/** A whole number within [min, max]. */
export const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);
